// One HTTP request for the UrlFetchApp stand-in (apps_script.js), which waits for this
// process to end: Apps Script's fetch is synchronous, Node's is not.
// stdin: {url, method, headers, body (base64)}; stdout: {status, headers, body (base64)}.
'use strict';

const fs = require('fs');
const http = require('http');
const https = require('https');

const request = JSON.parse(fs.readFileSync(0, 'utf8'));
const body = Buffer.from(request.body, 'base64');
const url = new URL(request.url);
const headers = Object.assign({}, request.headers, { 'Content-Length': body.length });
const client = url.protocol === 'https:' ? https : http;

const sent = client.request(url, { method: request.method, headers, timeout: 60000 }, (response) => {
  const chunks = [];
  response.on('data', (chunk) => chunks.push(chunk));
  response.on('end', () => {
    process.stdout.write(JSON.stringify({
      status: response.statusCode,
      headers: response.headers,
      body: Buffer.concat(chunks).toString('base64'),
    }));
  });
});
sent.on('error', (error) => {
  process.stdout.write(JSON.stringify({ status: 0, headers: {}, body: '', error: error.message }));
});
sent.end(body);
