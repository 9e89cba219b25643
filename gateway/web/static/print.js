// The activation-code sheet: a Print button when scripts run (without them the page says how).
document.addEventListener("DOMContentLoaded", function () {
  var button = document.querySelector("[data-print]");
  if (!button) return;
  button.hidden = false;
  button.addEventListener("click", function () { window.print(); });
  var hint = document.querySelector(".js-hide");
  if (hint) hint.hidden = true;
});
