// Prints the README's configuration table from the server's own list, so the two never disagree.
const { configVariables } = await import('../apps/server/dist/config.js');
console.log('| variable | default | meaning |\n| --- | --- | --- |');
for (const v of configVariables) console.log(`| \`${v.name}\` | \`${v.default}\` | ${v.meaning} |`);
