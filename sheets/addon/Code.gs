/**
 * kpibot — Google Sheets add-on (menu 「KPI評価」). Thin on purpose: every rule lives in
 * kpibot's Python backend; this script signs requests, calls it and shows the answers.
 *
 * Script properties (プロジェクトの設定 → スクリプト プロパティ):
 *   KPIBOT_BACKEND_URL   e.g. https://kpibot.example.jp   (kpibot serve --http)
 *   KPIBOT_ADDON_SECRET  the same value as the backend's KPIBOT_ADDON_SECRET
 */

var POLL_SECONDS = 5;
var POLL_LIMIT_SECONDS = 300;

function onOpen() {
  SpreadsheetApp.getUi()
    .createMenu('KPI評価')
    .addItem('今すぐ評価', 'runSync')
    .addItem('入力チェック', 'runCheck')
    .addItem('この事業の評価を説明', 'explainSelection')
    .addSeparator()
    .addItem('公表用の資料を作成', 'publishReport')
    .addToUi();
}

function onInstall() {
  onOpen();
}

/** Menu: validate, rate and write back; then show the sidebar with the problems. */
function runSync() {
  saveResult_(syncNow_());
  showSidebar_();
}

/** Menu: validate only. */
function runCheck() {
  saveResult_(call_('/addon/check', {}).body);
  showSidebar_();
}

/** Menu: explain the project of the selected row. */
function explainSelection() {
  saveExplanation_(explainRow_());
  showSidebar_();
}

/**
 * Menu: make the year's publication (report PDF and HTML, open data CSV and Excel) on the
 * backend and show links to the files (signed by the backend, valid for 24 hours). While a
 * project still has an 【エラー】 or is 評価保留 the backend refuses with the list; the
 * person may then make a draft, every page marked 「案」.
 */
function publishReport() {
  var ui = SpreadsheetApp.getUi();
  var outcome = publishNow_(false);
  if (outcome.status === 'refused') {
    var shown = outcome.blockers.slice(0, 15).join('\n');
    var more = outcome.blockers.length > 15 ? '\nほか' + (outcome.blockers.length - 15) + '件' : '';
    var choice = ui.alert('公表用の資料を作成', outcome.error + '\n\n' + shown + more +
      '\n\n「案」として作りますか？', ui.ButtonSet.YES_NO);
    if (choice !== ui.Button.YES) return;
    outcome = publishNow_(true);
  }
  if (outcome.status !== 'done') {
    ui.alert('公表用の資料を作成', outcome.error || '作成できませんでした。', ui.ButtonSet.OK);
    return;
  }
  var base = PropertiesService.getScriptProperties().getProperty('KPIBOT_BACKEND_URL').replace(/\/$/, '');
  var items = outcome.files.map(function (file) {
    return '<li><a href="' + escapeHtml_(base + file.url) + '" target="_blank" rel="noopener">' +
      escapeHtml_(file.kind + ': ' + file.name) + '</a></li>';
  }).join('');
  var html = HtmlService.createHtmlOutput(
    '<div lang="ja" style="font-family: sans-serif"><p>' + escapeHtml_(outcome.title) + '（' +
    outcome.projects + '事業）を作成しました。リンクは24時間有効です。</p><ul>' + items + '</ul></div>'
  ).setWidth(480).setHeight(240);
  ui.showModalDialog(html, '公表用の資料');
}

function publishNow_(draft) {
  var answer = call_('/addon/publish', { draft: draft });
  var waited = 0;
  while (answer.code === 202 && waited < POLL_LIMIT_SECONDS) {
    Utilities.sleep(POLL_SECONDS * 1000);
    waited += POLL_SECONDS;
    answer = call_('/addon/result', { jobId: answer.body.jobId });
  }
  if (answer.code === 202) {
    throw new Error('資料の作成がまだ終わっていません。しばらくしてからもう一度お試しください。');
  }
  return answer.body;
}

function escapeHtml_(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

// --- called by the sidebar through google.script.run -------------------------------

function getSidebarState() {
  var props = PropertiesService.getUserProperties();
  return {
    result: JSON.parse(props.getProperty('kpibotResult') || 'null'),
    explanation: JSON.parse(props.getProperty('kpibotExplanation') || 'null')
  };
}

function runSyncForSidebar() {
  return saveResult_(syncNow_());
}

function runCheckForSidebar() {
  return saveResult_(call_('/addon/check', {}).body);
}

function explainSelectionForSidebar() {
  return saveExplanation_(explainRow_());
}

/** Select the cell a problem is about (e.g. "I41") in the KPI tab. */
function selectCell(a1) {
  var book = SpreadsheetApp.getActiveSpreadsheet();
  var sheet = book.getSheetByName('KPI') || book.getSheets()[0];
  sheet.activate();
  sheet.getRange(a1).activate();
}

// --- the backend --------------------------------------------------------------------

function syncNow_() {
  var answer = call_('/addon/sync', {});
  var waited = 0;
  while (answer.code === 202 && waited < POLL_LIMIT_SECONDS) {
    Utilities.sleep(POLL_SECONDS * 1000);
    waited += POLL_SECONDS;
    answer = call_('/addon/result', { jobId: answer.body.jobId });
  }
  if (answer.code === 202) {
    throw new Error('評価がまだ終わっていません。しばらくしてからもう一度「今すぐ評価」を押してください。');
  }
  return answer.body;
}

function explainRow_() {
  var row = SpreadsheetApp.getActiveRange().getRow();
  return call_('/addon/explain', { row: row }).body;
}

function call_(path, fields) {
  var props = PropertiesService.getScriptProperties();
  var url = props.getProperty('KPIBOT_BACKEND_URL');
  var secret = props.getProperty('KPIBOT_ADDON_SECRET');
  if (!url || !secret) {
    throw new Error('スクリプト プロパティ KPIBOT_BACKEND_URL と KPIBOT_ADDON_SECRET を設定してください。');
  }
  var payload = { spreadsheetId: SpreadsheetApp.getActiveSpreadsheet().getId() };
  for (var key in fields) payload[key] = fields[key];
  var body = JSON.stringify(payload);
  var timestamp = String(Math.floor(Date.now() / 1000));
  var digest = Utilities.computeHmacSha256Signature('v0:' + timestamp + ':' + body, secret, Utilities.Charset.UTF_8);
  var signature = 'v0=' + digest.map(function (b) { return ('0' + (b & 0xff).toString(16)).slice(-2); }).join('');
  var response = UrlFetchApp.fetch(url.replace(/\/$/, '') + path, {
    method: 'post',
    contentType: 'application/json; charset=utf-8',
    payload: body,
    headers: { 'X-Kpibot-Request-Timestamp': timestamp, 'X-Kpibot-Signature': signature },
    muteHttpExceptions: true
  });
  var code = response.getResponseCode();
  var parsed = JSON.parse(response.getContentText('UTF-8') || '{}');
  if (code >= 400) {
    throw new Error('kpibot: ' + (parsed.error || ('HTTP ' + code)));
  }
  return { code: code, body: parsed };
}

function saveResult_(result) {
  PropertiesService.getUserProperties().setProperty('kpibotResult', JSON.stringify(result));
  return result;
}

function saveExplanation_(explanation) {
  PropertiesService.getUserProperties().setProperty('kpibotExplanation', JSON.stringify(explanation));
  return explanation;
}

function showSidebar_() {
  var html = HtmlService.createHtmlOutputFromFile('Sidebar').setTitle('KPI評価');
  SpreadsheetApp.getUi().showSidebar(html);
}
