using System;
using System.Collections.Generic;
using System.DirectoryServices;
using System.Net.Mail;

namespace Contoso.Messaging.Jobs
{
    /// <summary>
    /// Sends "your password expires in N days" reminders with a link to OWA's change-password page.
    /// Reads pwdLastSet only; never handles a password value. Mail goes through the internal relay.
    /// </summary>
    public static class PasswordExpiryNotifier
    {
        private const int MaxPasswordAgeDays = 90;
        private static readonly int[] WarnDays = { 14, 7, 3, 1 };

        public static int Run()
        {
            int sent = 0;
            using (DirectorySearcher ds = new DirectorySearcher(new DirectoryEntry("LDAP://OU=Staff,DC=corp,DC=contoso,DC=com")))
            {
                ds.Filter = "(&(objectCategory=person)(objectClass=user)(mail=*)(!(userAccountControl:1.2.840.113556.1.4.803:=65536)))";
                ds.PageSize = 500;
                ds.PropertiesToLoad.AddRange(new[] { "mail", "givenName", "pwdLastSet" });
                using (SmtpClient smtp = new SmtpClient("smtp-relay.corp.contoso.com", 25))
                {
                    foreach (SearchResult r in ds.FindAll())
                    {
                        long raw = (long)r.Properties["pwdLastSet"][0];
                        if (raw == 0) continue;
                        DateTime expires = DateTime.FromFileTimeUtc(raw).AddDays(MaxPasswordAgeDays);
                        int left = (int)Math.Ceiling((expires - DateTime.UtcNow).TotalDays);
                        if (Array.IndexOf(WarnDays, left) < 0) continue;

                        string to = (string)r.Properties["mail"][0];
                        string name = r.Properties["givenName"].Count > 0 ? (string)r.Properties["givenName"][0] : "colleague";
                        MailMessage m = new MailMessage("it-noreply@contoso.com", to);
                        m.Subject = "Your Contoso password expires in " + left + " day(s)";
                        m.Body = "Hi " + name + ",\r\n\r\nYour network password expires on " + expires.ToLocalTime().ToString("D") +
                                 ".\r\nChange it at https://mail.contoso.com/owa/auth/expiredpassword.aspx?url=/owa/ or press Ctrl+Alt+Del on a domain PC.\r\n\r\nIT Service Desk";
                        smtp.Send(m);
                        sent++;
                    }
                }
            }
            return sent;
        }
    }
}
