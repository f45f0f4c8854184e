using System;
using System.Configuration;
using System.Data;
using System.Data.SqlClient;
using System.Web.UI;
using System.Web.UI.WebControls;

namespace Shop
{
    public partial class Products : Page
    {
        protected void Page_Load(object sender, EventArgs e)
        {
            if (!IsPostBack) Bind();
        }

        private void Bind()
        {
            string category = Request.QueryString["category"] ?? "all";
            string cs = ConfigurationManager.ConnectionStrings["Shop"].ConnectionString;
            using (var conn = new SqlConnection(cs))
            using (var cmd = new SqlCommand("SELECT ProductID, Name, UnitPrice, UnitsInStock, Category FROM Products WHERE @c = 'all' OR Category = @c", conn))
            {
                cmd.Parameters.AddWithValue("@c", category);
                var table = new DataTable();
                new SqlDataAdapter(cmd).Fill(table);
                ProductsGrid.DataSource = table;
                ProductsGrid.DataBind();
            }
        }

        protected void ProductsGrid_PageIndexChanging(object sender, GridViewPageEventArgs e)
        {
            ProductsGrid.PageIndex = e.NewPageIndex;
            Bind();
        }
    }
}
