// The DbContext and the design-time factory `dotnet ef` uses. The connection string comes from
// ConnectionStrings__DefaultConnection, as it would in ASP.NET Core configuration.
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Shop;

public class ShopContext(DbContextOptions<ShopContext> options) : DbContext(options)
{
    public DbSet<Customer> Customers => Set<Customer>();
    public DbSet<Product> Products => Set<Product>();
    public DbSet<Order> Orders => Set<Order>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Customer>().HasIndex(c => c.Email).IsUnique();
        modelBuilder.Entity<Product>().HasIndex(p => p.Sku).IsUnique();
        modelBuilder.Entity<Product>().Property(p => p.Price).HasPrecision(12, 2);
        modelBuilder.Entity<Order>().HasIndex(o => o.PlacedAt);
    }
}

public class ShopContextFactory : IDesignTimeDbContextFactory<ShopContext>
{
    public ShopContext CreateDbContext(string[] args)
    {
        // Commands that do not connect (migrations add, has-pending-model-changes, dbcontext script)
        // still need a provider, so an unset variable falls back to a local placeholder.
        var connection = Environment.GetEnvironmentVariable("ConnectionStrings__DefaultConnection")
            ?? "Host=localhost;Database=shop;Username=postgres";
        var options = new DbContextOptionsBuilder<ShopContext>().UseNpgsql(connection).Options;
        return new ShopContext(options);
    }
}
