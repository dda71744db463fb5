// Starts `guardrails lsp` for .policy files and connects VS Code to it over
// stdio. Everything the editor shows beyond highlighting (diagnostics, hover,
// completion, definitions, formatting, symbols) comes from the server.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function serverOptions() {
  const config = vscode.workspace.getConfiguration("guardrails");
  const command = config.get("server.command", "guardrails");
  const args = [...config.get("server.args", ["lsp"])];
  const nerModel = config.get("nerModel", "");
  if (nerModel) {
    args.push("--ner-model", nerModel);
  }
  // TransportKind.stdio adds --stdio, which `guardrails lsp` accepts.
  return { command, args, transport: TransportKind.stdio };
}

function activate(context) {
  const clientOptions = {
    documentSelector: [
      { scheme: "file", language: "guardrails-policy" },
      { scheme: "untitled", language: "guardrails-policy" },
    ],
    synchronize: {
      // A module changed on disk changes the diagnostics of the policies importing it.
      fileEvents: vscode.workspace.createFileSystemWatcher("**/*.policy"),
    },
  };
  client = new LanguageClient("guardrails", "Guardrails Policy", serverOptions(), clientOptions);
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("guardrails") && client) {
        client.stop().then(() => {
          client = new LanguageClient("guardrails", "Guardrails Policy", serverOptions(), clientOptions);
          return client.start();
        });
      }
    })
  );
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
