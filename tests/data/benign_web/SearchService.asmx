<%@ WebService Language="C#" Class="SearchService" %>
using System.Collections.Generic;
using System.Data.SqlClient;
using System.Web.Services;

[WebService(Namespace = "http://example.com/search")]
public class SearchService : WebService
{
    [WebMethod]
    public List<string> Find(string term)
    {
        var result = new List<string>();
        using (var conn = new SqlConnection(System.Configuration.ConfigurationManager.ConnectionStrings["Shop"].ConnectionString))
        using (var cmd = new SqlCommand("SELECT TOP 20 Name FROM Products WHERE Name LIKE @t", conn))
        {
            cmd.Parameters.AddWithValue("@t", "%" + term + "%");
            conn.Open();
            using (var r = cmd.ExecuteReader()) while (r.Read()) result.Add(r.GetString(0));
        }
        return result;
    }
}
