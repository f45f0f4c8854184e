<%@ Page Language="C#" MasterPageFile="~/Ecp.Master" AutoEventWireup="true" CodeBehind="Mailboxes.aspx.cs" Inherits="Microsoft.Exchange.Management.ControlPanel.Reporting.Mailboxes" %>
<%@ Register TagPrefix="ecp" Namespace="Microsoft.Exchange.Management.ControlPanel.WebControls" Assembly="Microsoft.Exchange.Management.ControlPanel" %>
<asp:Content ID="Content1" ContentPlaceHolderID="ResultsPane" runat="server">
    <ecp:ListView ID="listViewMailbox" runat="server" SearchBoxTextLabel="<%$ Strings:SearchMailboxes %>" ShowSearchBar="true" PageSize="100">
        <Columns>
            <ecp:ColumnHeader Name="DisplayName" Text="<%$ Strings:DisplayNameColumn %>" Width="40%" />
            <ecp:ColumnHeader Name="PrimarySmtpAddress" Text="<%$ Strings:EmailAddressColumn %>" Width="40%" />
        </Columns>
    </ecp:ListView>
    <asp:Repeater ID="rptStats" runat="server" DataSourceID="odsStats">
        <ItemTemplate><div class="stat"><%# Eval("Name") %>: <%# Eval("ItemCount", "{0:N0}") %> items, <%# DataBinder.Eval(Container.DataItem, "TotalItemSize") %></div></ItemTemplate>
    </asp:Repeater>
    <asp:ObjectDataSource ID="odsStats" runat="server" TypeName="Microsoft.Exchange.Management.ControlPanel.MailboxStatistics" SelectMethod="GetList" />
    <asp:GridView ID="gv" runat="server" AutoGenerateColumns="false">
        <Columns><asp:TemplateField><ItemTemplate><asp:Label runat="server" Text='<%# Bind("Alias") %>' /></ItemTemplate></asp:TemplateField></Columns>
    </asp:GridView>
</asp:Content>
