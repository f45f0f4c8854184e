<%@ Page Title="Products" Language="C#" MasterPageFile="~/Site.Master" AutoEventWireup="true" CodeBehind="products_grid.aspx.cs" Inherits="Shop.Products" %>
<asp:Content ID="Body" ContentPlaceHolderID="MainContent" runat="server">
    <h2>Products in <%: Request.QueryString["category"] %></h2>
    <asp:GridView ID="ProductsGrid" runat="server" AutoGenerateColumns="false" DataKeyNames="ProductID"
        AllowPaging="true" PageSize="20" OnPageIndexChanging="ProductsGrid_PageIndexChanging">
        <Columns>
            <asp:TemplateField HeaderText="Name">
                <ItemTemplate>
                    <a href='product.aspx?id=<%# Eval("ProductID") %>&ret=<%= Server.UrlEncode(Request.RawUrl) %>'><%# Eval("Name") %></a>
                </ItemTemplate>
            </asp:TemplateField>
            <asp:TemplateField HeaderText="Price">
                <ItemTemplate><%# DataBinder.Eval(Container.DataItem, "UnitPrice", "{0:c}") %></ItemTemplate>
            </asp:TemplateField>
            <asp:TemplateField HeaderText="Stock">
                <ItemTemplate><%# Eval("UnitsInStock").ToString() == "0" ? "Out of stock" : Eval("UnitsInStock") %></ItemTemplate>
            </asp:TemplateField>
            <asp:BoundField DataField="Category" HeaderText="Category" />
        </Columns>
    </asp:GridView>
    <asp:Repeater ID="Tags" runat="server">
        <ItemTemplate><span class="tag"><%# Eval("Tag") %></span></ItemTemplate>
    </asp:Repeater>
</asp:Content>
