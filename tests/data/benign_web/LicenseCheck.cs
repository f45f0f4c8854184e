using System;
using System.Security.Cryptography;
using System.Text;
using System.Web;

namespace Shop.Licensing
{
    public static class LicenseCheck
    {
        private static readonly byte[] Key = Encoding.UTF8.GetBytes("0123456789abcdef");

        public static string Decrypt(string token)
        {
            byte[] data = Convert.FromBase64String(token);
            using (var aes = new RijndaelManaged { Key = Key, IV = Key })
            using (var dec = aes.CreateDecryptor())
            {
                return Encoding.UTF8.GetString(dec.TransformFinalBlock(data, 0, data.Length));
            }
        }

        public static bool IsValid(HttpRequest request)
        {
            string header = request.Headers["X-License"];
            return header != null && Decrypt(header).StartsWith("SHOP-");
        }
    }
}
