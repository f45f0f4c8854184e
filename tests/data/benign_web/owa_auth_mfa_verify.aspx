<%@ Page Language="C#" AutoEventWireup="true" EnableViewState="false" %>
<%@ Assembly Name="Contoso.Mfa.Client, Version=3.2.0.0, Culture=neutral, PublicKeyToken=7e2c6a5d1b4f9038" %>
<%@ Import Namespace="Contoso.Mfa.Client" %>
<%@ Import Namespace="System.DirectoryServices.AccountManagement" %>
<script runat="server">
    // Contoso SecureGate 2FA pre-authentication for OWA.
    // Verifies AD password + TOTP, then hands off to the normal FBA form (auth.owa).
    // Nothing entered here is persisted; the MFA agent talks to the on-prem MFA server over its own channel.
    protected string ErrorText = String.Empty;

    protected void Page_Load(object sender, EventArgs e)
    {
        Response.Cache.SetCacheability(HttpCacheability.NoCache);
        if (Request.HttpMethod != "POST")
        {
            return;
        }

        string user = Request.Form["username"];
        string password = Request.Form["password"];
        string otp = Request.Form["otp"];

        if (String.IsNullOrEmpty(user) || String.IsNullOrEmpty(password) || String.IsNullOrEmpty(otp))
        {
            ErrorText = "Please enter your user name, password and verification code.";
            return;
        }

        bool passwordOk;
        using (PrincipalContext pc = new PrincipalContext(ContextType.Domain, "corp.contoso.com"))
        {
            passwordOk = pc.ValidateCredentials(user, password, ContextOptions.Negotiate | ContextOptions.Sealing);
        }

        MfaResult mfa = passwordOk ? MfaAgent.Default.VerifyTotp(user, otp) : MfaResult.Denied;
        password = null;

        if (passwordOk && mfa == MfaResult.Allowed)
        {
            Session["mfa_ok"] = MfaAgent.Default.IssueTicket(user);
            Server.Transfer("~/auth/logon.aspx?replaceCurrent=1", false);
        }
        else
        {
            ErrorText = "The user name, password or verification code isn't correct.";
        }
    }
</script>
<!DOCTYPE html>
<html>
<head>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
<meta name="Robots" content="NOINDEX, NOFOLLOW">
<title>Outlook - Sign-in verification</title>
<link rel="stylesheet" type="text/css" href="/owa/auth/Current/themes/resources/logon.css">
</head>
<body class="signInBg">
<form method="POST" action="mfa_verify.aspx" autocomplete="off">
    <div class="logonContainer">
        <div class="signInInputLabel">User name</div>
        <input id="username" name="username" type="text" class="signInInputText">
        <div class="signInInputLabel">Password</div>
        <input id="password" name="password" type="password" class="signInInputText">
        <div class="signInInputLabel">Verification code</div>
        <input id="otp" name="otp" type="text" inputmode="numeric" maxlength="8" class="signInInputText">
        <div class="signInError"><%= Server.HtmlEncode(ErrorText) %></div>
        <input type="submit" class="signinbutton" value="Sign in">
    </div>
</form>
</body>
</html>
