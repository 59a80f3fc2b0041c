// Greet function (Node.js): answers a JSON body's name with the runtime's salutation.
'use strict';

exports.handler = async (event) => {
  const body = event && event.body ? JSON.parse(event.body) : {};
  return {
    statusCode: 200,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      message: `${process.env.SALUTATION || 'Hi'}, ${body.name || 'stranger'}!`,
      runtime: `node ${process.version}`,
    }),
  };
};
