/* Legacy AJAX helper: parses JSON responses with eval on old browsers. */
var Ajax = {
    get: function (url, cb) {
        var request = window.XMLHttpRequest ? new XMLHttpRequest() : new ActiveXObject("Microsoft.XMLHTTP");
        request.onreadystatechange = function () {
            if (request.readyState === 4 && request.status === 200) {
                var data = window.JSON ? JSON.parse(request.responseText) : eval("(" + request.responseText + ")");
                cb(data);
            }
        };
        request.open("GET", url, true);
        request.send(null);
    },
    template: function (s, o) { return s.replace(/\{(\w+)\}/g, function (m, k) { return o[k]; }); }
};
function execute(action) { return Ajax.get("/api/" + encodeURIComponent(action), function (d) { document.title = d.title; }); }
var encoded = String.fromCharCode(72, 101, 108, 108, 111);
var reversed = "olleh".split("").reverse().join("");
