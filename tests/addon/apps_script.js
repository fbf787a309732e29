// Runs sheets/addon/Code.gs in Node, as one Apps Script execution, with stand-ins for the
// Apps Script services it uses. Written for the tests (tests/addon/test_apps_script.py);
// plain Node, no packages.
//
// Input (stdin, JSON): { code, sidebar, spreadsheet: {id, activeRow, sheets},
//   scriptProperties, userProperties, steps: [ {run: "onOpen"} | {menu: "今すぐ評価"} |
//   {call: "call_", args: [...]} | {client: "runCheckForSidebar", args: [...]} ],
//   alertAnswers: ["YES", …] (what the person clicks in each ui.alert with buttons) }
// Output (stdout, JSON): what each step returned or threw, the menu, every fetch with the
// exact bytes sent and received, the sleeps, the sidebar shown, the properties after.
//
// What the stand-ins copy from Google's reference (developers.google.com/apps-script):
// - UrlFetchApp.fetch is synchronous: a child Node process makes the request (execFileSync).
//   A string payload is sent as UTF-8; the default method is GET; with muteHttpExceptions
//   false an HTTP status of 400 or more throws; the response's getContentText(charset).
// - Utilities.computeHmacSha256Signature(value, key, charset) returns Byte[]: Java's
//   signed bytes, -128..127, as Apps Script does (hence Code.gs's `b & 0xff`).
// - Utilities.sleep blocks (Atomics.wait); Utilities.base64Encode takes a string or Byte[].
// - PropertiesService: script and user properties are strings (setProperty stores String(v)).
// - HtmlService.createHtmlOutputFromFile(name) reads name + '.html' beside Code.gs and
//   fails for a file the project does not have.
// - google.script.run: only functions without a trailing underscore are callable from the
//   client; arguments and results cross as JSON (functions, Dates and undefined are lost),
//   the success handler gets the result, the failure handler an Error with the message.
'use strict';

const fs = require('fs');
const path = require('path');
const vm = require('vm');
const crypto = require('crypto');
const { execFileSync } = require('child_process');

const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const out = { steps: [], fetches: [], sleeps: [], menu: null, sidebar: null, activated: [], toasts: [], dialog: null };
const alertAnswers = (input.alertAnswers || []).slice();

function properties(store) {
  const self = {
    getProperty: (key) => (Object.prototype.hasOwnProperty.call(store, key) ? store[key] : null),
    setProperty: (key, value) => { store[key] = String(value); return self; },
    deleteProperty: (key) => { delete store[key]; return self; },
    getProperties: () => Object.assign({}, store),
  };
  return self;
}
const scriptProperties = Object.assign({}, input.scriptProperties || {});
const userProperties = Object.assign({}, input.userProperties || {});

function toSigned(buffer) {
  return Array.from(buffer, (b) => (b > 127 ? b - 256 : b));
}
function toBuffer(value, charset) {
  if (Array.isArray(value)) return Buffer.from(value.map((b) => b & 0xff));
  return Buffer.from(String(value), charset === 'US_ASCII' ? 'ascii' : 'utf8');
}

const Utilities = {
  Charset: { UTF_8: 'UTF_8', US_ASCII: 'US_ASCII' },
  computeHmacSha256Signature(value, key, charset) {
    const mac = crypto.createHmac('sha256', toBuffer(key, charset));
    mac.update(toBuffer(value, charset));
    return toSigned(mac.digest());
  },
  base64Encode(value, charset) {
    return toBuffer(value, charset).toString('base64');
  },
  sleep(milliseconds) {
    out.sleeps.push(milliseconds);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, milliseconds);
  },
};

function httpResponse(answer) {
  const body = Buffer.from(answer.body, 'base64');
  return {
    getResponseCode: () => answer.status,
    getContentText: (charset) => body.toString(charset && /ascii/i.test(charset) ? 'ascii' : 'utf8'),
    getHeaders: () => answer.headers,
    getAllHeaders: () => answer.headers,
  };
}

const UrlFetchApp = {
  fetch(url, params) {
    params = params || {};
    const method = String(params.method || 'get').toUpperCase();
    const headers = Object.assign({}, params.headers || {});
    let body = Buffer.alloc(0);
    if (params.payload !== undefined && params.payload !== null) {
      body = typeof params.payload === 'string' ? Buffer.from(params.payload, 'utf8') : toBuffer(params.payload);
      headers['Content-Type'] = params.contentType || 'application/x-www-form-urlencoded';
    }
    const request = { url, method, headers, body: body.toString('base64') };
    const raw = execFileSync(process.execPath, [path.join(__dirname, 'fetch.js')], {
      input: JSON.stringify(request),
      maxBuffer: 64 * 1024 * 1024,
    });
    const answer = JSON.parse(raw.toString('utf8'));
    out.fetches.push({ url, method, headers, body: body.toString('utf8'), bodyBase64: request.body,
                       status: answer.status, response: Buffer.from(answer.body, 'base64').toString('utf8') });
    if (answer.error) throw new Error('Address unavailable: ' + url + ' (' + answer.error + ')');
    if (answer.status >= 400 && !params.muteHttpExceptions) {
      throw new Error('Request failed for ' + url + ' returned code ' + answer.status);
    }
    return httpResponse(answer);
  },
};

function range(sheet, a1, row) {
  return {
    getRow: () => row,
    getA1Notation: () => a1,
    activate() { out.activated.push(sheet.getName() + '!' + a1); return this; },
  };
}
function sheet(name) {
  const self = {
    getName: () => name,
    activate() { out.activated.push(name); return self; },
    getRange: (a1) => range(self, a1, Number(String(a1).replace(/^[A-Z]+/, '')) || 1),
  };
  return self;
}
const book = input.spreadsheet || {};
const sheets = (book.sheets || ['KPI']).map(sheet);
const SpreadsheetApp = {
  getActiveSpreadsheet: () => ({
    getId: () => book.id,
    getSheetByName: (name) => sheets.find((s) => s.getName() === name) || null,
    getSheets: () => sheets.slice(),
  }),
  getActiveRange: () => range(sheets[0], 'A' + (book.activeRow || 1), book.activeRow || 1),
  getUi() {
    return {
      createMenu(name) {
        const menu = { name, items: [] };
        const builder = {
          addItem(label, functionName) { menu.items.push([label, functionName]); return builder; },
          addSeparator() { return builder; },
          addToUi() { out.menu = menu; },
        };
        return builder;
      },
      showSidebar(html) { out.sidebar = { title: html.getTitle(), file: html.file, bytes: html.getContent().length }; },
      // alert(prompt) or alert(title, prompt, buttons): the answer is the button clicked.
      alert(title, prompt, buttons) {
        out.toasts.push(String(prompt === undefined ? title : title + ': ' + prompt));
        return buttons === undefined ? 'OK' : (alertAnswers.shift() || 'CLOSE');
      },
      ButtonSet: { OK: 'OK', OK_CANCEL: 'OK_CANCEL', YES_NO: 'YES_NO', YES_NO_CANCEL: 'YES_NO_CANCEL' },
      Button: { OK: 'OK', CANCEL: 'CANCEL', YES: 'YES', NO: 'NO', CLOSE: 'CLOSE' },
      showModalDialog(html, title) { out.dialog = { title: String(title), content: html.getContent() }; },
    };
  },
};

const folder = path.dirname(input.code);
const HtmlService = {
  createHtmlOutput(content) {
    const output = {
      setWidth() { return output; },
      setHeight() { return output; },
      getContent: () => String(content),
    };
    return output;
  },
  createHtmlOutputFromFile(name) {
    const file = path.join(folder, name + '.html');
    if (!fs.existsSync(file)) throw new Error('No HTML file named ' + name + ' was found.');
    const content = fs.readFileSync(file, 'utf8');
    let title = '';
    const output = {
      file: name + '.html',
      setTitle(t) { title = String(t); return output; },
      getTitle: () => title,
      getContent: () => content,
    };
    return output;
  },
};

const context = vm.createContext({
  SpreadsheetApp, UrlFetchApp, Utilities, HtmlService,
  PropertiesService: {
    getScriptProperties: () => properties(scriptProperties),
    getUserProperties: () => properties(userProperties),
  },
  Logger: { log: () => undefined },
  console,
});
vm.runInContext(fs.readFileSync(input.code, 'utf8'), context, { filename: 'Code.gs' });

// google.script.run, as the sidebar's client code sees it (asynchronous, JSON across).
function scriptRun(pending) {
  let success = null;
  let failure = null;
  const runner = new Proxy({}, {
    get(_, name) {
      if (name === 'withSuccessHandler') return (fn) => { success = fn; return runner; };
      if (name === 'withFailureHandler') return (fn) => { failure = fn; return runner; };
      if (name === 'withUserObject') return () => runner;
      return (...args) => {
        pending.push(new Promise((resolve) => setImmediate(() => {
          try {
            if (String(name).endsWith('_') || typeof context[name] !== 'function') {
              throw new Error('Script function not found: ' + String(name));
            }
            const sent = JSON.parse(JSON.stringify(args));
            const result = context[name](...sent);
            const received = result === undefined ? null : JSON.parse(JSON.stringify(result));
            if (success) success(received);
            resolve({ ok: true, value: received });
          } catch (error) {
            if (failure) failure(new Error(error.message));
            resolve({ ok: false, error: error.message });
          }
        })));
      };
    },
  });
  return runner;
}

function sidebarCalls() {
  const html = fs.readFileSync(path.join(folder, 'Sidebar.html'), 'utf8');
  return Array.from(html.matchAll(/withFailureHandler\(\w+\)\.(\w+)\(/g), (m) => m[1]);
}

async function main() {
  for (const step of input.steps) {
    const record = { step };
    try {
      if (step.run) {
        record.value = context[step.run]() ?? null;
      } else if (step.menu) {
        const item = (out.menu ? out.menu.items : []).find(([label]) => label === step.menu);
        if (!item) throw new Error('no menu item ' + step.menu);
        record.function = item[1];
        record.value = context[item[1]]() ?? null;
      } else if (step.call) {
        record.value = context[step.call](...(step.args || [])) ?? null;
      } else if (step.client) {
        const pending = [];
        scriptRun(pending)[step.client](...(step.args || []));
        Object.assign(record, await pending[0]);
        out.steps.push(record);
        continue;
      }
      record.ok = true;
    } catch (error) {
      record.ok = false;
      record.error = error.message;
    }
    out.steps.push(record);
  }
  out.scriptProperties = scriptProperties;
  out.userProperties = userProperties;
  out.sidebarCalls = sidebarCalls();
  process.stdout.write(JSON.stringify(out));
}

main();
