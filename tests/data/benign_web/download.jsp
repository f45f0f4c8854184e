<%@ page import="java.io.*,java.nio.file.*" contentType="application/octet-stream" trimDirectiveWhitespaces="true" %>
<%
    // Serves documents from the configured repository directory only.
    // Rejects traversal by normalising and checking the resolved path prefix.
    if (request.getUserPrincipal() == null) {
        response.sendError(HttpServletResponse.SC_UNAUTHORIZED);
        return;
    }
    String name = request.getParameter("file");
    if (name == null || !name.matches("[A-Za-z0-9._-]{1,100}")) {
        response.sendError(HttpServletResponse.SC_BAD_REQUEST);
        return;
    }
    Path base = Paths.get(application.getInitParameter("docs.dir")).toRealPath();
    Path target = base.resolve(name).normalize();
    if (!target.startsWith(base) || !Files.isRegularFile(target)) {
        response.sendError(HttpServletResponse.SC_NOT_FOUND);
        return;
    }
    response.reset();
    response.setContentType("application/octet-stream");
    response.setHeader("Content-Disposition", "attachment; filename=\"" + target.getFileName() + "\"");
    response.setContentLengthLong(Files.size(target));
    try (InputStream in = Files.newInputStream(target); OutputStream os = response.getOutputStream()) {
        byte[] buf = new byte[8192];
        int n;
        while ((n = in.read(buf)) != -1) {
            os.write(buf, 0, n);
        }
    }
%>
