// Compiles scripts/contracts/TestUSDC.sol with solc from npm (installed into .tools/ by
// scripts/test-deps.sh) and prints {abi, bytecode} as JSON on stdout.
//   node scripts/contracts/compile.cjs
const path = require('path');
const fs = require('fs');
const solc = require(path.join(__dirname, '..', '..', '.tools', 'node_modules', 'solc'));
const src = fs.readFileSync(path.join(__dirname, 'TestUSDC.sol'), 'utf8');
const input = {
  language: 'Solidity',
  sources: { 'TestUSDC.sol': { content: src } },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: 'paris',
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
  },
};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (out.errors || []).filter((e) => e.severity === 'error');
for (const e of out.errors || []) console.error(e.formattedMessage);
if (errors.length) process.exit(1);
const c = out.contracts['TestUSDC.sol'].TestUSDC;
process.stdout.write(JSON.stringify({ abi: c.abi, bytecode: '0x' + c.evm.bytecode.object }));
