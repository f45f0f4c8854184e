<%@ Page Language="C#" AutoEventWireup="true" CodeBehind="Default.aspx.cs" Inherits="Shop._Default" %>
﻿<html><body><h1>Welcome</h1><p>Today is <%= DateTime.Now.ToLongDateString() %>.</p></body></html>
