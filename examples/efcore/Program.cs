// A tiny entry point so that the example is a runnable app like the ones drift-guard guards.
using Shop;

var factory = new ShopContextFactory();
await using var db = factory.CreateDbContext(args);
Console.WriteLine($"{db.Customers.Count()} customers");
