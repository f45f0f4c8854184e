<%@ Page Language="C#" AutoEventWireup="true" EnableViewState="false" %>
<%@ Import Namespace="System.Web.Security" %>
<%@ Import Namespace="System.IO" %>
<%@ Import Namespace="System.Configuration" %>
<script runat="server">
    // Intranet portal sign-in page. Credentials are validated by the configured
    // SqlMembershipProvider; only the user name and outcome are audited.
    private string _message = string.Empty;

    protected void Page_Load(object sender, EventArgs e)
    {
        if (!IsPostBack || Request.HttpMethod != "POST")
        {
            return;
        }

        string userName = (Request.Form["username"] ?? string.Empty).Trim();
        string password = Request.Form["password"] ?? string.Empty;

        if (userName.Length == 0 || password.Length == 0)
        {
            _message = "Please enter your user name and password.";
            return;
        }

        bool ok = Membership.ValidateUser(userName, password);
        WriteAudit(userName, ok);

        if (ok)
        {
            FormsAuthentication.RedirectFromLoginPage(userName, Request.Form["remember"] == "on");
            return;
        }

        MembershipUser user = Membership.GetUser(userName);
        _message = (user != null && user.IsLockedOut)
            ? "Your account is locked. Contact the service desk on ext. 4400."
            : "The user name or password is incorrect.";
    }

    private void WriteAudit(string userName, bool success)
    {
        // NOTE: never log the password. Only who, when, from where, and the outcome.
        string dir = ConfigurationManager.AppSettings["AuditLogDirectory"] ?? Server.MapPath("~/App_Data/logs");
        Directory.CreateDirectory(dir);
        string line = string.Format("{0:u}\t{1}\t{2}\t{3}\t{4}",
            DateTime.UtcNow,
            HttpUtility.UrlEncode(userName),
            Request.UserHostAddress,
            success ? "LOGON_OK" : "LOGON_FAIL",
            HttpUtility.UrlEncode(Request.UserAgent ?? "-"));
        lock (typeof(Membership))
        {
            File.AppendAllText(Path.Combine(dir, "signin-" + DateTime.UtcNow.ToString("yyyyMMdd") + ".log"), line + Environment.NewLine);
        }
    }
</script>
<!DOCTYPE html>
<html lang="en">
<head runat="server">
    <meta charset="utf-8" />
    <title>Contoso Intranet - Sign in</title>
    <link rel="stylesheet" href="<%= ResolveUrl("~/Content/site.css") %>" />
</head>
<body class="signin">
    <form id="form1" runat="server" autocomplete="off">
        <div class="signin-box">
            <img src="<%= ResolveUrl("~/Content/img/logo.png") %>" alt="Contoso" />
            <h1>Sign in</h1>
            <% if (_message.Length > 0) { %>
            <p class="error"><%: _message %></p>
            <% } %>
            <label for="username">User name</label>
            <input type="text" id="username" name="username" value="<%: Request.Form["username"] %>" autofocus="autofocus" />
            <label for="password">Password</label>
            <input type="password" id="password" name="password" />
            <label class="check"><input type="checkbox" name="remember" /> Keep me signed in</label>
            <button type="submit">Sign in</button>
            <p class="small"><a href="ChangePassword.aspx">Change password</a> &middot; <a href="/help/signin.html">Help</a></p>
        </div>
    </form>
    <script src="<%= ResolveUrl("~/Scripts/showpassword.js") %>"></script>
</body>
</html>
