import { describe, expect, it } from 'vitest';
import { callLocator } from '../../../src/engines/efcore/efcore-engine.js';

// Which migrationBuilder call a statement of `dotnet ef migrations script` came from: no dotnet here,
// the C# as EF and people write it.

const MIGRATION = [
  'using Microsoft.EntityFrameworkCore.Migrations;',
  '',
  'public partial class Cleanup : Migration',
  '{',
  '    protected override void Up(MigrationBuilder migrationBuilder)',
  '    {',
  '        migrationBuilder.Sql("COMMENT ON COLUMN s.\\"Users\\".\\"Email\\" IS \'x\';");',
  '        migrationBuilder.Sql("UPDATE s.\\"Users\\" SET \\"IsAdmin\\" = \\"IsAdmin\\";");',
  '        migrationBuilder.Sql(@"DELETE FROM s.""Users""',
  '            WHERE NOT ""IsAdmin"";");',
  '        migrationBuilder.Sql("ALTER TABLE s.\\"Users\\" ALTER COLUMN \\"Email\\" TYPE text;");',
  '        migrationBuilder.Sql("ALTER TABLE s.\\"Users\\" ALTER COLUMN \\"LastSeenChangelogVersion\\" TYPE integer USING NULL;");',
  '        migrationBuilder.AddColumn<string>(',
  '            name: "Note",',
  '            table: "Users",',
  '            nullable: true);',
  '    }',
  '',
  '    protected override void Down(MigrationBuilder migrationBuilder)',
  '    {',
  '        migrationBuilder.DropColumn(name: "Note", table: "Users");',
  '    }',
  '}',
].join('\n');

describe('callLocator', () => {
  it('gives each statement of several Sql calls on one table its own call, and typed calls theirs', () => {
    const locate = callLocator(MIGRATION, 'up')!;
    expect(locate('COMMENT ON COLUMN s."Users"."Email" IS \'x\';').line).toBe(7);
    expect(locate('UPDATE s."Users" SET "IsAdmin" = "IsAdmin";').line).toBe(8);
    // A verbatim string over two lines, its quotes doubled.
    expect(locate('DELETE FROM s."Users"\n            WHERE NOT "IsAdmin";').line).toBe(9);
    // Statements that start alike: the call holding the longest start.
    expect(locate('ALTER TABLE s."Users" ALTER COLUMN "LastSeenChangelogVersion" TYPE integer USING NULL;').line).toBe(12);
    expect(locate('ALTER TABLE s."Users" ALTER COLUMN "Email" TYPE text;').line).toBe(11);
    expect(locate('ALTER TABLE "Users" ADD "Note" text NULL;').line).toBe(13);
    expect(locate('START TRANSACTION;').line).toBe(5);
    expect(callLocator(MIGRATION, 'down')!('ALTER TABLE "Users" DROP COLUMN "Note";').line).toBe(21);
  });
});
