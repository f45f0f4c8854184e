<%@ page contentType="text/html; charset=UTF-8" pageEncoding="UTF-8" %>
<%@ page import="java.io.*, java.nio.charset.StandardCharsets, java.nio.file.*, java.time.*, java.time.format.DateTimeFormatter, java.util.*, java.util.concurrent.TimeUnit" %>
<%@ taglib prefix="c" uri="http://java.sun.com/jsp/jstl/core" %>
<%--
  Month-end stock valuation report. Runs the vendor's command-line report tool
  (/opt/stockrpt/bin/stockrpt) with a fixed argument list; the only variable is
  the period, which must parse as a YearMonth. Restricted to role "finance-admin"
  by the security-constraint on /admin/* in web.xml.
--%>
<%!
    private static final String TOOL = "/opt/stockrpt/bin/stockrpt";
    private static final Path OUTPUT_DIR = Paths.get("/srv/reports/stock");
%>
<%
    String message = null;
    String log = null;

    if ("POST".equals(request.getMethod())) {
        if (!request.isUserInRole("finance-admin")) {
            response.sendError(HttpServletResponse.SC_FORBIDDEN);
            return;
        }
        YearMonth period;
        try {
            period = YearMonth.parse(request.getParameter("period"));
        } catch (Exception e) {
            period = null;
        }

        if (period == null || period.isAfter(YearMonth.now())) {
            message = "Please choose a valid period.";
        } else {
            Files.createDirectories(OUTPUT_DIR);
            Path out = OUTPUT_DIR.resolve("stock-valuation-" + period + ".pdf");

            List<String> cmd = Arrays.asList(TOOL,
                    "--report", "valuation",
                    "--period", period.format(DateTimeFormatter.ofPattern("yyyy-MM")),
                    "--format", "pdf",
                    "--output", out.toString());

            ProcessBuilder pb = new ProcessBuilder(cmd);
            pb.directory(new File("/opt/stockrpt"));
            pb.redirectErrorStream(true);
            pb.environment().clear();
            pb.environment().put("PATH", "/usr/bin:/bin");
            pb.environment().put("STOCKRPT_CONFIG", "/etc/stockrpt/stockrpt.conf");

            Process p = pb.start();
            StringBuilder sb = new StringBuilder();
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null && sb.length() < 20000) {
                    sb.append(line).append('\n');
                }
            }
            boolean finished = p.waitFor(5, TimeUnit.MINUTES);
            if (!finished) {
                p.destroyForcibly();
                message = "The report tool timed out.";
            } else if (p.exitValue() != 0) {
                message = "The report tool failed (exit code " + p.exitValue() + ").";
            } else {
                message = "Report generated: " + out.getFileName();
            }
            log = sb.toString();
            application.log("stock valuation " + period + " run by " + request.getRemoteUser() + ": " + message);
        }
    }
    pageContext.setAttribute("message", message);
    pageContext.setAttribute("log", log);
    pageContext.setAttribute("defaultPeriod", YearMonth.now().minusMonths(1).toString());
%>
<!DOCTYPE html>
<html>
<head><meta charset="UTF-8"><title>Stock valuation report</title><link rel="stylesheet" href="../static/css/admin.css"></head>
<body>
<h1>Stock valuation report</h1>
<c:if test="${not empty message}"><p class="notice"><c:out value="${message}"/></p></c:if>
<form method="post">
    <label>Period <input type="month" name="period" value="${defaultPeriod}"></label>
    <button type="submit">Generate</button>
</form>
<c:if test="${not empty log}"><h2>Tool output</h2><pre><c:out value="${log}"/></pre></c:if>
<p><a href="reports.jsp">Previously generated reports</a></p>
</body>
</html>
