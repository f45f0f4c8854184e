/// <summary>
/// Get element by id
/// </summary>
function gbid(s)
{
	return document.getElementById(s);
}

/// <summary>
/// Check whether the username is in a valid format
/// </summary>
function isValidEmailAddress(emailAddress)
{
	var pattern = new RegExp(/^[^@\s]+@[^@\s]+\.[^@\s]+$/);
	return pattern.test(emailAddress);
}

/// <summary>
/// Set cookie that contain the user selection (public/private)
/// </summary>
function setCookie(name, value)
{
	var expires = new Date();
	expires.setTime(expires.getTime() + (365 * 24 * 60 * 60 * 1000));
	document.cookie = name + "=" + value + "; expires=" + expires.toGMTString() + "; path=/";
}

/// <summary>
/// Logon button click event handler
/// </summary>
function clkLgn()
{
	var oUsr = gbid("username");
	var oPwd = gbid("password");

	if (oUsr.value == "")
	{
		alert(gbid("userNameLabel").innerText);
		oUsr.focus();
		return false;
	}

	if (oPwd.value == "")
	{
		oPwd.focus();
		return false;
	}

	if (gbid("chkPrvt") && gbid("chkPrvt").checked)
	{
		setCookie("PrivateComputer", "true");
	}
	else
	{
		setCookie("PrivateComputer", "false");
	}

	// Save the username since it will be used on the mail box after login
	document.cookie = "logondata=acc=" + (gbid("chkPrvt") && gbid("chkPrvt").checked ? 1 : 0) + "&lgn=" + oUsr.value + "; path=/";

	document.forms[0].submit();
	return false;
}

/// <summary>
/// Enter key handler
/// </summary>
function checkSubmit(e)
{
	if (e && e.keyCode == 13)
	{
		clkLgn();
		return false;
	}
	return true;
}

/// <summary>
/// Show/hide the public/private explanation
/// </summary>
function clkExp(sId)
{
	var o = gbid(sId);
	if (o)
	{
		o.style.display = (o.style.display == "none") ? "" : "none";
	}
}
