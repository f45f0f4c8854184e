<%@ Control Language="C#" AutoEventWireup="true" CodeBehind="OrderSummary.ascx.cs" Inherits="Shop.Controls.OrderSummary" %>
<asp:ListView ID="Lines" runat="server" ItemType="Shop.Models.OrderLine">
    <ItemTemplate>
        <tr><td><%#: Item.ProductName %></td><td><%# Eval("Quantity") %></td><td><%# Eval("LineTotal", "{0:c}") %></td></tr>
    </ItemTemplate>
</asp:ListView>
<asp:Literal ID="Total" runat="server" />
