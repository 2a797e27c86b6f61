// The sign-in page: counts down to expiry and long-polls the bridge for the sign-in's status
// (same origin, with the session cookie); on approval it goes back to the website at once.
"use strict";
(function () {
  const root = document.getElementById("signin");
  if (!root) return;
  const statusUrl = root.dataset.statusUrl;
  const expiresAt = Number(root.dataset.expiresAt) * 1000;
  const show = (id) => {
    for (const section of ["waiting", "approved", "ended"]) {
      document.getElementById(section).hidden = section !== id;
    }
  };
  const end = (message) => {
    document.getElementById("ended-message").textContent = message;
    show("ended");
    running = false;
  };
  let running = true;

  const countdown = document.getElementById("countdown");
  const tick = () => {
    if (!running) return;
    const left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
    countdown.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
    if (left > 0) setTimeout(tick, 1000);
  };
  tick();

  const poll = async () => {
    let pause = 0;
    while (running) {
      try {
        const answer = await fetch(statusUrl + "?wait=25", { credentials: "same-origin", cache: "no-store" });
        if (answer.status === 404 || answer.status === 403) {
          end("This sign-in is no longer known here. Try again.");
          return;
        }
        if (!answer.ok) throw new Error("status " + answer.status);
        const status = await answer.json();
        pause = 0;
        if (status.status === "approved") {
          show("approved");
          running = false;
          window.location.replace(status.redirect);
          return;
        }
        if (status.status === "expired") {
          end("The code expired before your phone answered.");
          return;
        }
        if (status.status === "denied") {
          end("The sign-in was refused: what the phone sent could not be verified.");
          return;
        }
      } catch (error) {
        pause = Math.min(5000, pause ? pause * 2 : 250);
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    }
  };
  poll();
})();
