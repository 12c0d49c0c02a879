// The example's entities: customers place orders of products; an order keeps its
// delivery details as jsonb.
using System.ComponentModel.DataAnnotations;
using System.ComponentModel.DataAnnotations.Schema;

namespace Shop;

public class Customer
{
    public int Id { get; set; }

    [MaxLength(200)]
    public required string Name { get; set; }

    [MaxLength(320)]
    public required string Email { get; set; }

    public List<Order> Orders { get; } = [];
}

public class Product
{
    public int Id { get; set; }

    [MaxLength(64)]
    public required string Sku { get; set; }

    public decimal Price { get; set; }
}

public class Order
{
    public long Id { get; set; }

    public int CustomerId { get; set; }
    public Customer Customer { get; set; } = null!;

    public DateTimeOffset PlacedAt { get; set; }

    [Column(TypeName = "jsonb")]
    public string? Delivery { get; set; }
}
