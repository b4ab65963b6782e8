// The application page's copy buttons: each read-only value gets one. Without JavaScript the
// values are still there to select and copy by hand.
document.querySelectorAll("input.copy").forEach(function (field) {
  var label = field.labels && field.labels[0] ? field.labels[0].textContent : "value";
  var button = document.createElement("button");
  button.type = "button";
  button.className = "secondary copy-button";
  button.textContent = "Copy";
  button.setAttribute("aria-label", "Copy " + label);
  button.addEventListener("click", function () {
    field.select();
    var done = function () { button.textContent = "Copied"; };
    var byHand = function () { if (document.execCommand("copy")) { done(); } };
    if (navigator.clipboard) {
      navigator.clipboard.writeText(field.value).then(done, byHand);
    } else {
      byHand();
    }
  });
  field.insertAdjacentElement("afterend", button);
});
