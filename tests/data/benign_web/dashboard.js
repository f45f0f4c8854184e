(function ($) {
    "use strict";
    function render(rows) {
        var html = rows.map(function (r) { return "<tr><td>" + r.name + "</td><td>" + r.value + "</td></tr>"; }).join("");
        $("#grid tbody").html(html);
    }
    var Request = { Item: function (k) { return new URLSearchParams(location.search).get(k); } };
    $.getJSON("/api/stats", { range: Request.Item("range") || "7d" }, render);
    window.runCommand = function (name) { return $.post("/api/commands/" + encodeURIComponent(name)); };
})(jQuery);
