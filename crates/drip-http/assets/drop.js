// The drop page's drag and drop: files dropped anywhere on the page (or picked in the
// form) are sent one by one as raw bodies to POST /d/{token}?name=..., each with its own
// status line and progress bar. Without this script the page's plain form still uploads
// one file.
const form = document.querySelector("form[data-drop]");
const input = form?.querySelector("input[type=file]");
const list = document.querySelector("[data-drop-status]");

/** A file's status line: its words and a progress bar. */
function line(file) {
  const item = document.createElement("li");
  const text = document.createElement("span");
  const bar = document.createElement("progress");
  bar.max = 100;
  bar.value = 0;
  bar.setAttribute("aria-label", `Progress of ${file.name}`);
  item.append(text, " ", bar);
  list.append(item);
  return { text, bar };
}

/** POSTs `file`, reporting the bytes sent; resolves with the status and the JSON body. */
function post(file, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", `${location.pathname}?name=${encodeURIComponent(file.name)}`);
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", (event) => onProgress(event.loaded));
    request.addEventListener("load", () => {
      let body = {};
      try {
        body = JSON.parse(request.responseText || "{}");
      } catch {
        // not JSON: the status says enough
      }
      resolve({ ok: request.status >= 200 && request.status < 300, status: request.statusText, body });
    });
    request.addEventListener("error", () => reject(new Error("the connection failed")));
    request.send(file);
  });
}

async function send(file) {
  const { text, bar } = line(file);
  text.textContent = `${file.name}: sending…`;
  try {
    const answer = await post(file, (loaded) => {
      const percent = file.size > 0 ? Math.floor((loaded / file.size) * 100) : 100;
      bar.value = percent;
      text.textContent = `${file.name}: ${percent}% sent`;
    });
    bar.value = answer.ok ? 100 : 0;
    text.textContent = answer.ok
      ? `${file.name}: received (${answer.body.size} bytes)`
      : `${file.name}: not sent — ${answer.body.error?.message ?? answer.status}`;
  } catch {
    bar.value = 0;
    text.textContent = `${file.name}: not sent — the connection failed`;
  }
}

async function sendAll(files) {
  for (const file of files) {
    await send(file);
  }
}

if (form && input && list) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sendAll([...input.files]);
    form.reset();
  });
  input.multiple = true;
  document.addEventListener("dragover", (event) => {
    event.preventDefault();
    document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", () => document.body.classList.remove("dragging"));
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    document.body.classList.remove("dragging");
    sendAll([...(event.dataTransfer?.files ?? [])]);
  });
}
