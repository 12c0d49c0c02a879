import http from 'node:http';

// A local HTTP server playing the few GitHub REST endpoints the Action uses: PR comments (issue 7
// of acme/shop) and issues (the drift issue). It records every call.

export interface ApiCall {
  readonly method: string;
  readonly url: string;
  readonly body?: Record<string, unknown>;
}

interface Issue {
  number: number;
  title: string;
  body: string;
  labels: { name: string }[];
  state: 'open' | 'closed';
  state_reason?: string;
  html_url: string;
  comments: string[];
}

export class FakeGitHub {
  readonly calls: ApiCall[] = [];
  comments: { id: number; body: string; html_url: string; user?: { login: string } }[] = [];
  /**
   * Who the token is: GET /user answers with this login; undefined plays GITHUB_TOKEN, for which
   * GitHub answers 403 and comments are written as github-actions[bot].
   */
  tokenLogin: string | undefined = undefined;
  issues: Issue[] = [];
  forbidCreate = false;
  private server = http.createServer((req, res) => this.handle(req, res));
  port = 0;

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    req.on('end', () => {
      const body = raw === '' ? undefined : (JSON.parse(raw) as Record<string, unknown>);
      this.calls.push({ method: req.method ?? '', url: req.url ?? '', ...(body === undefined ? {} : { body }) });
      const send = (status: number, payload: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(payload));
      };
      const url = new URL(req.url ?? '/', 'http://fake');
      const text = (key: string): string => (typeof body?.[key] === 'string' ? (body[key] as string) : '');
      if (req.method === 'GET' && url.pathname === '/user') {
        return this.tokenLogin === undefined ? send(403, { message: 'Resource not accessible by integration' }) : send(200, { login: this.tokenLogin });
      }
      // PR comments
      if (req.method === 'GET' && url.pathname === '/repos/acme/shop/issues/7/comments') return send(200, this.comments);
      if (req.method === 'POST' && url.pathname === '/repos/acme/shop/issues/7/comments') {
        if (this.forbidCreate) return send(403, { message: 'Resource not accessible by integration' });
        const comment = { id: 100 + this.comments.length, body: text('body'), html_url: `http://example.invalid/c/${this.comments.length}`, user: { login: this.tokenLogin ?? 'github-actions[bot]' } };
        this.comments.push(comment);
        return send(201, comment);
      }
      const patchComment = /^\/repos\/acme\/shop\/issues\/comments\/(\d+)$/.exec(url.pathname);
      if (req.method === 'PATCH' && patchComment !== null) {
        const comment = this.comments.find((c) => c.id === Number(patchComment[1]));
        if (comment === undefined) return send(404, { message: 'Not Found' });
        comment.body = text('body');
        return send(200, comment);
      }
      // Issues
      if (req.method === 'GET' && url.pathname === '/repos/acme/shop/issues') {
        const state = url.searchParams.get('state') ?? 'open';
        const label = url.searchParams.get('labels');
        return send(200, this.issues.filter((i) => i.state === state && (label === null || i.labels.some((l) => l.name === label))));
      }
      if (req.method === 'POST' && url.pathname === '/repos/acme/shop/issues') {
        if (this.forbidCreate) return send(403, { message: 'Resource not accessible by integration' });
        const number = 500 + this.issues.length;
        const labels = Array.isArray(body?.labels) ? (body.labels as string[]).map((name) => ({ name })) : [];
        const issue: Issue = { number, title: text('title'), body: text('body'), labels, state: 'open', html_url: `http://example.invalid/i/${number}`, comments: [] };
        this.issues.push(issue);
        return send(201, issue);
      }
      const issuePath = /^\/repos\/acme\/shop\/issues\/(\d+)(\/comments)?$/.exec(url.pathname);
      const issue = issuePath === null ? undefined : this.issues.find((i) => i.number === Number(issuePath[1]));
      if (issuePath !== null && issue === undefined) return send(404, { message: 'Not Found' });
      if (issue !== undefined && req.method === 'PATCH' && issuePath?.[2] === undefined) {
        if (typeof body?.body === 'string') issue.body = body.body;
        if (body?.state === 'open' || body?.state === 'closed') issue.state = body.state;
        if (typeof body?.state_reason === 'string') issue.state_reason = body.state_reason;
        return send(200, issue);
      }
      if (issue !== undefined && req.method === 'POST' && issuePath?.[2] === '/comments') {
        issue.comments.push(text('body'));
        return send(201, { id: 900 + issue.comments.length, body: text('body'), html_url: `${issue.html_url}#c${issue.comments.length}` });
      }
      send(404, { message: `no fake for ${req.method} ${url.pathname}` });
    });
  }
}
