<!--#INCLUDE FILE="config.asp"-->
<!--#INCLUDE FILE="inc_sha256.asp"-->
<!--#INCLUDE FILE="inc_header_short.asp" -->
<%
'## Snitz Forums - avatar/attachment upload popup (members only)
'## Accepts only whitelisted image types; stores files under /uploads/<memberid>/ with a random name.

Const MAX_UPLOAD_BYTES = 512000
Dim allowedExt : allowedExt = Array("jpg", "jpeg", "gif", "png")

If MemberID < 1 Or strAllowUploads <> "1" Then
	Response.Write "<p class=""error"">You must be logged in to upload files.</p>"
	WriteFooterShort
	Response.End
End If

If Request.ServerVariables("REQUEST_METHOD") = "POST" Then
	If Request.TotalBytes > MAX_UPLOAD_BYTES Then
		Response.Write "<p class=""error"">File is too large (max " & MAX_UPLOAD_BYTES \ 1024 & " KB).</p>"
	Else
		Dim binData, stm, strData, boundary, posFile, posStart, posEnd, strFileName, strExt, i, ok, destFolder, destName, fso
		binData = Request.BinaryRead(Request.TotalBytes)
		Set stm = Server.CreateObject("ADODB.Stream")
		stm.Type = 1 : stm.Open : stm.Write binData
		stm.Position = 0 : stm.Type = 2 : stm.Charset = "x-ansi"
		strData = stm.ReadText
		stm.Close

		boundary = Left(strData, InStr(strData, vbCrLf) - 1)
		posFile = InStr(strData, "filename=""")
		If posFile > 0 Then
			strFileName = Mid(strData, posFile + 10, InStr(posFile + 10, strData, """") - posFile - 10)
			strFileName = Mid(strFileName, InStrRev(strFileName, "\") + 1)
			strExt = LCase(Mid(strFileName, InStrRev(strFileName, ".") + 1))
			ok = False
			For i = 0 To UBound(allowedExt)
				If strExt = allowedExt(i) Then ok = True
			Next
			'## reject double extensions like photo.asp;.jpg
			If InStr(strFileName, ";") > 0 Or UBound(Split(strFileName, ".")) > 1 Then ok = False

			If Not ok Then
				Response.Write "<p class=""error"">Only JPG, GIF and PNG images are allowed.</p>"
			Else
				posStart = InStr(posFile, strData, vbCrLf & vbCrLf) + 4
				posEnd = InStr(posStart, strData, vbCrLf & boundary)
				Set fso = Server.CreateObject("Scripting.FileSystemObject")
				destFolder = Server.MapPath("uploads/" & MemberID)
				If Not fso.FolderExists(destFolder) Then fso.CreateFolder destFolder
				Randomize
				destName = DateToStr(Now()) & "_" & Int(Rnd() * 100000) & "." & strExt

				Set stm = Server.CreateObject("ADODB.Stream")
				stm.Type = 2 : stm.Charset = "x-ansi" : stm.Open
				stm.WriteText Mid(strData, posStart, posEnd - posStart)
				stm.SaveToFile destFolder & "\" & destName, 2
				stm.Close
				Set stm = Nothing
				Set fso = Nothing

				Response.Write "<p>Upload complete. Insert this tag into your post:</p>"
				Response.Write "<input type=""text"" size=""60"" value=""[img]uploads/" & MemberID & "/" & destName & "[/img]"" readonly>"
			End If
		End If
	End If
End If
%>
<form method="post" enctype="multipart/form-data" action="pop_upload.asp">
	<input type="file" name="file1" accept=".jpg,.jpeg,.gif,.png">
	<input type="submit" value="Upload" class="button">
</form>
<%
WriteFooterShort
%>
