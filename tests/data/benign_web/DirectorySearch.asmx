<%@ WebService Language="C#" Class="Contoso.DirectorySearch" %>
using System;
using System.Collections.Generic;
using System.DirectoryServices;
using System.Web.Services;

namespace Contoso
{
    [WebService(Namespace = "http://contoso.com/directory")]
    public class DirectorySearch : WebService
    {
        [WebMethod]
        public List<string> FindUsers(string prefix)
        {
            var result = new List<string>();
            if (string.IsNullOrEmpty(prefix) || prefix.Length < 2) return result;
            string safe = prefix.Replace("*", "").Replace("(", "").Replace(")", "").Replace("\\", "");
            using (var ds = new DirectorySearcher(new DirectoryEntry("LDAP://DC=contoso,DC=com")))
            {
                ds.Filter = "(&(objectClass=user)(displayName=" + safe + "*))";
                ds.SizeLimit = 20;
                foreach (SearchResult r in ds.FindAll()) result.Add((string)r.Properties["displayName"][0]);
            }
            return result;
        }
    }
}
