<%@ Page Language="C#" %>
<%@ Import Namespace="System.Linq" %>
<%@ Import Namespace="System.Linq.Expressions" %>
<%@ Import Namespace="System.Collections.Generic" %>
<script runat="server">
    public class Order { public string Customer { get; set; } public string Status { get; set; } public string Region { get; set; } }
    static readonly HashSet<string> Allowed = new HashSet<string> { "Customer", "Status", "Region" };
    protected void Page_Load(object sender, EventArgs e)
    {
        string field = Request.QueryString["field"] ?? "Status";
        string value = Request.QueryString["value"] ?? "Open";
        if (!Allowed.Contains(field)) { Response.StatusCode = 400; return; }
        var param = Expression.Parameter(typeof(Order), "o");
        var body = Expression.Equal(Expression.Property(param, field), Expression.Constant(value));
        Func<Order, bool> pred = Expression.Lambda<Func<Order, bool>>(body, param).Compile();
        var orders = new List<Order> { new Order { Customer = "A", Status = "Open", Region = "EU" } };
        grid.DataSource = orders.Where(pred).ToList();
        grid.DataBind();
    }
</script>
<asp:GridView ID="grid" runat="server" />
