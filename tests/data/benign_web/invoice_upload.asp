<%@ Language="VBScript" %>
<%
Option Explicit
'==================================================================
' upload.asp - scanned invoice upload for AP department
' Pure-ASP multipart parser. Saves to a FIXED folder outside wwwroot,
' only .pdf allowed, server-generated file name.
'==================================================================
Const UPLOAD_DIR = "D:\Scans\Invoices\"
Const MAX_BYTES = 5242880
Dim total, raw, bnd, stream, ok, msg
Randomize

Function BytesToStr(b)
    Dim s : Set s = Server.CreateObject("ADODB.Stream")
    s.Type = 1 : s.Open : s.Write b : s.Position = 0 : s.Type = 2 : s.Charset = "iso-8859-1"
    BytesToStr = s.ReadText : s.Close
End Function

If Request.ServerVariables("REQUEST_METHOD") = "POST" Then
    total = Request.TotalBytes
    If total = 0 Or total > MAX_BYTES Then
        msg = "File missing or larger than 5 MB."
    Else
        raw = BytesToStr(Request.BinaryRead(total))
        bnd = Left(raw, InStr(raw, vbCrLf) - 1)
        Dim hdrEnd, fileStart, fileEnd, header, fname, ext, newName
        hdrEnd = InStr(raw, vbCrLf & vbCrLf)
        header = Mid(raw, 1, hdrEnd)
        fname = Mid(header, InStr(header, "filename=""") + 10)
        fname = Left(fname, InStr(fname, """") - 1)
        ext = LCase(Mid(fname, InStrRev(fname, ".") + 1))
        fileStart = hdrEnd + 4
        fileEnd = InStr(fileStart, raw, vbCrLf & bnd) - 1
        If ext <> "pdf" Or Mid(raw, fileStart, 5) <> "%PDF-" Then
            msg = "Only PDF files are accepted."
        Else
            newName = "INV_" & Year(Now) & Right("0" & Month(Now), 2) & Right("0" & Day(Now), 2) & "_" & Int(Rnd * 1000000) & ".pdf"
            Set stream = Server.CreateObject("ADODB.Stream")
            stream.Type = 2 : stream.Charset = "iso-8859-1" : stream.Open
            stream.WriteText Mid(raw, fileStart, fileEnd - fileStart + 1)
            stream.SaveToFile UPLOAD_DIR & newName, 1 ' adSaveCreateNotExist
            stream.Close : Set stream = Nothing
            msg = "Uploaded as " & newName
        End If
    End If
End If
%>
<html><body>
<h2>Upload scanned invoice (PDF)</h2>
<p><%= Server.HTMLEncode(msg & "") %></p>
<form method="post" enctype="multipart/form-data" action="upload.asp">
  <input type="file" name="invoice" accept="application/pdf">
  <input type="submit" value="Upload">
</form>
</body></html>
